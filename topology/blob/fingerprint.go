package blob

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/minio/minio-go/v7"
)

// ETags lists the bucket at endpoint with the replicator's key of creds
// and returns object key -> ETag: one listing, no object read. A copied or
// replicated object keeps its ETag (the MD5 of a single-part upload's
// content) on the embedded S3 server and on MinIO alike, so two regions'
// listings agree exactly when they hold the same objects with the same
// content.
func ETags(ctx context.Context, endpoint string, creds Credentials) (map[string]string, error) {
	c, err := Client(endpoint, creds.ReplicatorAccessKey, creds.ReplicatorSecret)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for o := range c.ListObjects(ctx, Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			return nil, fmt.Errorf("list %s: %w", endpoint, o.Err)
		}
		out[o.Key] = strings.Trim(o.ETag, `"`)
	}
	return out, nil
}

// DropFirstObject deletes the object with the smallest key from the
// bucket at endpoint and returns its key ("" when the bucket is empty):
// the drop-object defect of the cutover fingerprint's negative controls.
func DropFirstObject(ctx context.Context, endpoint string, creds Credentials) (string, error) {
	tags, err := ETags(ctx, endpoint, creds)
	if err != nil {
		return "", err
	}
	if len(tags) == 0 {
		return "", nil
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	c, err := Client(endpoint, creds.ReplicatorAccessKey, creds.ReplicatorSecret)
	if err != nil {
		return "", err
	}
	if err := c.RemoveObject(ctx, Bucket, keys[0], minio.RemoveObjectOptions{}); err != nil {
		return "", fmt.Errorf("drop %s: %w", keys[0], err)
	}
	return keys[0], nil
}
