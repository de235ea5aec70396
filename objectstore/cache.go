package objectstore

import (
	"container/list"
	"sync"
)

// objectCache is a byte-bounded LRU of immutable partition objects. Objects
// never change once written, so a cached copy is never stale; it is only
// dropped for space or when the object is deleted.
type objectCache struct {
	mu    sync.Mutex
	limit int64
	size  int64
	order *list.List // front = most recent; values are *cacheEntry
	byKey map[string]*list.Element
}

type cacheEntry struct {
	key  string
	data []byte
}

func newObjectCache(limit int64) *objectCache {
	return &objectCache{limit: limit, order: list.New(), byKey: make(map[string]*list.Element)}
}

func (c *objectCache) get(key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*cacheEntry).data, true
}

// put caches data, which the caller must not modify afterwards. Objects
// larger than a quarter of the limit are not cached.
func (c *objectCache) put(key string, data []byte) {
	n := int64(len(data))
	if n > c.limit/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[key]; ok {
		return
	}
	c.byKey[key] = c.order.PushFront(&cacheEntry{key: key, data: data})
	c.size += n
	for c.size > c.limit {
		c.evict(c.order.Back())
	}
}

func (c *objectCache) remove(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[key]; ok {
		c.evict(el)
	}
}

func (c *objectCache) evict(el *list.Element) {
	ent := c.order.Remove(el).(*cacheEntry)
	delete(c.byKey, ent.key)
	c.size -= int64(len(ent.data))
}
