package jobs

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Key layout. Every job object is a leaf at depth three, so no key is a
// prefix of another:
//
//	jobs/ready/<due>-<id>.json  a job waiting to run, or running under a lease
//	jobs/dead/<id>.json         a job that failed for good, kept for operators
//
// <due> is the unix millisecond the job was scheduled for, zero-padded to
// 15 digits, so the store's byte order is due order and a scan stops at the
// first key in the future. A claim rewrites the job in place (a move could
// not be conditional), so a running job keeps its old <due>; its lease is
// the NotBefore inside the object. <id> is 32 hex digits: the creation
// time in nanoseconds, then random bits, so dead jobs list oldest first.
const (
	Prefix      = "jobs/"
	readyPrefix = Prefix + "ready/"
	deadPrefix  = Prefix + "dead/"
	keyExt      = ".json"
	dueDigits   = 15
	idLen       = 32
)

func readyKey(dueMs int64, id string) string {
	return fmt.Sprintf("%s%0*d-%s%s", readyPrefix, dueDigits, dueMs, id, keyExt)
}

func deadKey(id string) string { return deadPrefix + id + keyExt }

// parseReady returns the due time and ID a ready key encodes; ok is false
// for a key this package did not write.
func parseReady(key string) (due time.Time, id string, ok bool) {
	rest, found := strings.CutPrefix(key, readyPrefix)
	if !found {
		return time.Time{}, "", false
	}
	rest, found = strings.CutSuffix(rest, keyExt)
	if !found || len(rest) != dueDigits+1+idLen || rest[dueDigits] != '-' {
		return time.Time{}, "", false
	}
	ms, err := strconv.ParseInt(rest[:dueDigits], 10, 64)
	if err != nil || ms < 0 || !validID(rest[dueDigits+1:]) {
		return time.Time{}, "", false
	}
	return time.UnixMilli(ms), rest[dueDigits+1:], true
}

func validID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ceilMs rounds t up to a millisecond, so a job's key is never due before
// the NotBefore inside it.
func ceilMs(t time.Time) int64 {
	ms := t.UnixMilli()
	if time.UnixMilli(ms).Before(t) {
		ms++
	}
	return ms
}
