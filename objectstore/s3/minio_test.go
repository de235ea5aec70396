package s3_test

import (
	"context"
	"strings"

	"github.com/siestamq/siesta/objectstore"
)

// leafKeys works around MinIO's one departure from S3 that the
// conformance suite meets. MinIO keeps objects as files in directories, so
// when one key is a directory of another ("log" and "log/1"), it stores
// and serves both but lists only the first; its maintainers call such
// keys unsupported. The suite writes such pairs on purpose; the engine's
// key layout never does (every key is a leaf: see objectstore/keys.go and
// broker/group/store.go), and the engine tests run on MinIO without this.
//
// leafKeys stores every key with a suffix byte that sorts before every
// byte the suite uses, so no stored key is a directory of another, while
// prefixes, order and startAfter keep their meaning.
type leafKeys struct{ objectstore.Bucket }

const leaf = "!" // below '-', '.', '/', '_', digits and letters

func (b leafKeys) Get(ctx context.Context, key string) (objectstore.Object, error) {
	return b.Bucket.Get(ctx, key+leaf)
}

func (b leafKeys) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	return b.Bucket.GetRange(ctx, key+leaf, offset, length)
}

func (b leafKeys) PutIfAbsent(ctx context.Context, key string, data []byte) (string, error) {
	return b.Bucket.PutIfAbsent(ctx, key+leaf, data)
}

func (b leafKeys) PutIfMatch(ctx context.Context, key string, data []byte, etag string) (string, error) {
	return b.Bucket.PutIfMatch(ctx, key+leaf, data, etag)
}

func (b leafKeys) Delete(ctx context.Context, key string) error {
	return b.Bucket.Delete(ctx, key+leaf)
}

// List needs no change to prefix: a prefix without the suffix byte
// matches key+leaf exactly when it matches key.
func (b leafKeys) List(ctx context.Context, prefix, startAfter string, limit int) ([]objectstore.ObjectInfo, error) {
	if startAfter != "" {
		startAfter += leaf
	}
	objs, err := b.Bucket.List(ctx, prefix, startAfter, limit)
	for i := range objs {
		objs[i].Key = strings.TrimSuffix(objs[i].Key, leaf)
	}
	return objs, err
}
