package blob

import (
	"context"
	"fmt"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/bcdr-harness/bcdr/topology/fingerprint"
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

// DropFirstObject deletes, from the bucket at endpoint, the object with the
// smallest key that the bucket at other also holds with the same ETag, and
// returns its key ("" when they share none): the drop-object defect of the
// cutover fingerprint's negative controls. Only an object both regions held
// makes its loss a difference between them.
func DropFirstObject(ctx context.Context, endpoint, other string, creds Credentials) (string, error) {
	tags, err := ETags(ctx, endpoint, creds)
	if err != nil {
		return "", err
	}
	theirs, err := ETags(ctx, other, creds)
	if err != nil {
		return "", err
	}
	key, ok := fingerprint.FirstShared(tags, theirs)
	if !ok {
		return "", nil
	}
	c, err := Client(endpoint, creds.ReplicatorAccessKey, creds.ReplicatorSecret)
	if err != nil {
		return "", err
	}
	if err := c.RemoveObject(ctx, Bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return "", fmt.Errorf("drop %s: %w", key, err)
	}
	return key, nil
}
