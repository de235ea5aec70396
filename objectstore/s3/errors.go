package s3

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/siestamq/siesta/objectstore"
)

// errorCode returns the S3 error code (NoSuchKey, PreconditionFailed, ...)
// and HTTP status of err, when err is a service's answer.
func errorCode(err error) (code string, status int) {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code = apiErr.ErrorCode()
	}
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) {
		status = respErr.HTTPStatusCode()
	}
	return code, status
}

// isNotFound reports whether err says the object does not exist. A missing
// bucket is not a missing object: NoSuchBucket stays an error. HEAD
// answers carry no body, so their 404 has only the generic code NotFound.
func isNotFound(err error) bool {
	if err == nil {
		return false
	}
	code, _ := errorCode(err)
	return code == "NoSuchKey" || code == "NotFound"
}

// notFound returns objectstore.ErrNotFound for a missing object, else err.
func notFound(err error) error {
	if isNotFound(err) {
		return objectstore.ErrNotFound
	}
	return err
}

// isInvalidRange reports whether err is S3's answer to a range starting at
// or past the end of the object.
func isInvalidRange(err error) bool {
	if err == nil {
		return false
	}
	code, status := errorCode(err)
	return code == "InvalidRange" || status == http.StatusRequestedRangeNotSatisfiable
}

// conditionFailed reports whether a conditional PutObject lost:
//   - 412 PreconditionFailed: the key exists (If-None-Match) or its etag
//     differs (If-Match);
//   - 409 ConditionalRequestConflict: a concurrent conditional write to the
//     same key won the race;
//   - 404 NoSuchKey: If-Match on a key that does not exist.
func conditionFailed(err error) bool {
	code, status := errorCode(err)
	switch {
	case status == http.StatusPreconditionFailed, code == "PreconditionFailed":
		return true
	case code == "ConditionalRequestConflict":
		return true
	case code == "NoSuchKey":
		return true
	}
	return false
}

// retryObserver is the client's retryer, noting in retried whether the
// SDK made another attempt. The retry middleware asks for the delay only
// when it is about to retry.
type retryObserver struct {
	aws.Retryer
	retried *atomic.Bool
}

func (r retryObserver) RetryDelay(attempt int, err error) (time.Duration, error) {
	r.retried.Store(true)
	return r.Retryer.RetryDelay(attempt, err)
}

// GetAttemptToken keeps the wrapped retryer's per-attempt rate limiting.
func (r retryObserver) GetAttemptToken(ctx context.Context) (func(error) error, error) {
	if v2, ok := r.Retryer.(aws.RetryerV2); ok {
		return v2.GetAttemptToken(ctx)
	}
	return r.Retryer.GetInitialToken(), nil
}
