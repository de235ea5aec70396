package group

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/siestamq/siesta/objectstore"
)

// Bucket layout. A group id is path-escaped (with '.' escaped too, so no id
// becomes "." or "..") to form one key segment:
//
//	groups/<escaped id>/state    groupState JSON
//	groups/<escaped id>/offsets  offsetsDoc JSON
const (
	groupsPrefix  = "groups/"
	stateSuffix   = "/state"
	offsetsSuffix = "/offsets"
)

func escapeGroup(id string) string {
	return strings.ReplaceAll(url.PathEscape(id), ".", "%2E")
}

func stateKey(group string) string   { return groupsPrefix + escapeGroup(group) + stateSuffix }
func offsetsKey(group string) string { return groupsPrefix + escapeGroup(group) + offsetsSuffix }

// parseKey splits a key under groupsPrefix into the group id and its suffix.
func parseKey(key string) (group, suffix string, ok bool) {
	rest, ok := strings.CutPrefix(key, groupsPrefix)
	if !ok {
		return "", "", false
	}
	i := strings.LastIndexByte(rest, '/')
	if i < 0 {
		return "", "", false
	}
	group, err := url.PathUnescape(rest[:i])
	if err != nil {
		return "", "", false
	}
	return group, rest[i:], true
}

// maxCASAttempts bounds the retries of one read-modify-write that keeps
// losing to other writers; the request then fails as retriable.
const maxCASAttempts = 32

// entry is a Coordinator's in-memory view of one group: a cache of the group
// document, the members it has heard from, and a channel to wake its waiters.
type entry struct {
	writeMu sync.Mutex // serializes this process's writes, so they don't race each other

	mu      sync.Mutex
	raw     []byte // nil when the document does not exist
	etag    string
	readAt  time.Time
	changed chan struct{}        // closed and replaced when the cached document changes
	seen    map[string]time.Time // member id → last time it was heard from here
	waiters int                  // requests blocked in JoinGroup or SyncGroup
	active  time.Time            // last local member activity (touch, waiter)
}

func (c *Coordinator) entry(group string) *entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.groups[group]
	if !ok {
		e = &entry{changed: make(chan struct{}), seen: make(map[string]time.Time)}
		c.groups[group] = e
	}
	return e
}

// remember caches a document version and wakes waiters if it changed.
func (e *entry) remember(raw []byte, etag string, at time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if etag != e.etag {
		close(e.changed)
		e.changed = make(chan struct{})
	}
	e.raw, e.etag, e.readAt = raw, etag, at
}

// wait returns the channel closed on the next change of the cached document.
func (e *entry) wait() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.changed
}

// touch records that a member is alive, as seen from this broker.
func (e *entry) touch(memberID string, now time.Time) {
	if memberID == "" {
		return
	}
	e.mu.Lock()
	e.seen[memberID] = now
	e.active = now
	e.mu.Unlock()
}

// prune forgets members that are no longer in g or whose session has passed
// since they were last heard from here.
func (e *entry) prune(g *groupState, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, at := range e.seen {
		if m := g.member(id); m == nil || now.Sub(at) >= m.session() {
			delete(e.seen, id)
		}
	}
}

func (e *entry) addWaiter(delta int, now time.Time) {
	e.mu.Lock()
	e.waiters += delta
	e.active = now
	e.mu.Unlock()
}

func (e *entry) lastSeen() map[string]time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]time.Time, len(e.seen))
	for k, v := range e.seen {
		out[k] = v
	}
	return out
}

// decode returns a private copy of a group document; a missing or deleted
// (Dead) group decodes as a new empty group with exists unset.
func decode(raw []byte) (*groupState, error) {
	g := newGroup()
	if raw == nil {
		return g, nil
	}
	if err := json.Unmarshal(raw, g); err != nil {
		return nil, fmt.Errorf("decode group state: %w", err)
	}
	if g.State == stateDead {
		return newGroup(), nil
	}
	g.exists = true
	return g, nil
}

// fetch reads the group document from the bucket and caches it. raw is nil
// if there is no document.
func (c *Coordinator) fetch(ctx context.Context, group string, e *entry) (raw []byte, etag string, err error) {
	key := stateKey(group)
	obj, err := c.bucket.Get(ctx, key)
	switch {
	case errors.Is(err, objectstore.ErrNotFound):
		e.remember(nil, "", c.now())
		return nil, "", nil
	case err != nil:
		return nil, "", fmt.Errorf("read group %q: %w", group, err)
	}
	e.remember(obj.Data, obj.ETag, c.now())
	return obj.Data, obj.ETag, nil
}

// read returns the current group document, fresh from the bucket.
func (c *Coordinator) read(ctx context.Context, group string) (*groupState, error) {
	raw, _, err := c.fetch(ctx, group, c.entry(group))
	if err != nil {
		return nil, err
	}
	return decode(raw)
}

// cached is read, but answers from the cache if it is younger than
// PollInterval. It bounds the reads of frequent requests (heartbeats).
func (c *Coordinator) cached(ctx context.Context, group string) (*groupState, error) {
	e := c.entry(group)
	e.mu.Lock()
	raw, fresh := e.raw, c.now().Sub(e.readAt) < c.opts.PollInterval
	e.mu.Unlock()
	if !fresh {
		var err error
		if raw, _, err = c.fetch(ctx, group, e); err != nil {
			return nil, err
		}
	}
	return decode(raw)
}

// update is the one way the group document changes: read it, let fn modify a
// private copy and say whether to write it, and write it back only if nobody
// else wrote in between, retrying from a fresh read otherwise. An error from
// fn aborts the update and is returned as is. update returns the document
// as it stands afterwards.
func (c *Coordinator) update(ctx context.Context, group string, fn func(g *groupState, now time.Time) (write bool, err error)) (*groupState, error) {
	e := c.entry(group)
	e.writeMu.Lock()
	defer e.writeMu.Unlock()
	key := stateKey(group)
	for attempt := 0; ; attempt++ {
		raw, etag, err := c.fetch(ctx, group, e)
		if err != nil {
			return nil, err
		}
		g, err := decode(raw)
		if err != nil {
			return nil, err
		}
		now := c.now()
		write, err := fn(g, now)
		if err != nil || !write {
			return g, err
		}
		g.Revision++
		data, err := json.Marshal(g)
		if err != nil {
			return nil, fmt.Errorf("encode group %q: %w", group, err)
		}
		// A request past its ApplyTimeout writes nothing, even if the
		// store answered it at last: its client has moved on.
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("write group %q: %w", group, err)
		}
		var newETag string
		if raw == nil {
			newETag, err = c.bucket.PutIfAbsent(ctx, key, data)
		} else {
			newETag, err = c.bucket.PutIfMatch(ctx, key, data, etag)
		}
		if err == nil {
			e.remember(data, newETag, now)
			return g, nil
		}
		if !errors.Is(err, objectstore.ErrPreconditionFailed) {
			return nil, fmt.Errorf("write group %q: %w", group, err)
		}
		if attempt+1 >= maxCASAttempts {
			return nil, fmt.Errorf("write group %q: gave up after %d attempts: %w", group, attempt+1, err)
		}
		// Another broker wrote first; back off a little so two brokers
		// don't keep colliding.
		if err := sleep(ctx, time.Duration(rand.Int64N(int64(time.Millisecond)*int64(attempt+1)))); err != nil {
			return nil, err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
