package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"strconv"
	"strings"

	"github.com/gatekeeper-mcp/gatekeeper/internal/sensitive"
)

// A chained line is the event's JSON object with three fields added at its
// end, in this order and with nothing in between:
//
//	{"time":…,"event":…,…,"seq":42,"prev":"<64 hex>","mac":"<64 hex>"}
//
// mac is HMAC-SHA256, under the audit key, of every byte of the line before
// `,"mac":"`. prev is the mac of the record before (Genesis for the first
// record of a chain) and seq counts records from 1. The fields sit at fixed
// distances from the end of the line, so a verifier finds the MAC'd bytes
// by position: it never re-encodes JSON and never depends on how an
// encoder orders or escapes fields.
const (
	macLen      = 2 * sha256.Size
	seqField    = `,"seq":`
	prevField   = `,"prev":"`
	macField    = `,"mac":"`
	tailLen     = len(macField) + macLen + len(`"}`)                // after the MAC'd bytes
	prevTailLen = len(prevField) + macLen + len(`"`)                // end of the MAC'd bytes
	maxSeqLen   = len("18446744073709551615")                       // uint64
	minLineLen  = len(`{`) + len(`"seq":1`) + prevTailLen + tailLen // an object holding only the chain
)

// Genesis is the prev of the first record of a chain.
var Genesis = strings.Repeat("0", macLen)

// Head is the end of a chain: the last record's seq and MAC. A copy of it
// kept elsewhere (a collector, an operator's note) lets audit verify detect
// records removed from the end. The zero Head is an empty chain.
type Head struct {
	Seq uint64
	MAC string // hex; "" or Genesis for an empty chain
}

func (h Head) prev() string {
	if h.MAC == "" {
		return Genesis
	}
	return h.MAC
}

// Record is one parsed chained line.
type Record struct {
	Seq  uint64
	Prev string // hex MAC of the record before, or Genesis
	MAC  string // hex
	// Signed is the part of the line the MAC covers: all of it before
	// `,"mac":"`.
	Signed []byte
}

// ErrNotChained means a line is not a chained audit record: not JSON, or
// without the chain fields at its end in the order Gatekeeper writes them.
var ErrNotChained = errors.New("not a chained audit record")

// ParseLine reads the chain fields of one line (without its newline). It
// checks the shape only; Verify checks the MAC.
func ParseLine(line []byte) (Record, error) {
	n := len(line)
	if n < minLineLen || line[0] != '{' || !bytes.HasSuffix(line, []byte(`"}`)) {
		return Record{}, ErrNotChained
	}
	signed := line[:n-tailLen]
	if !bytes.Equal(line[n-tailLen:n-tailLen+len(macField)], []byte(macField)) {
		return Record{}, ErrNotChained
	}
	mac := line[n-tailLen+len(macField) : n-2]
	m := len(signed)
	if !bytes.Equal(signed[m-prevTailLen:m-prevTailLen+len(prevField)], []byte(prevField)) || signed[m-1] != '"' {
		return Record{}, ErrNotChained
	}
	prev := signed[m-prevTailLen+len(prevField) : m-1]
	rest := signed[:m-prevTailLen]
	i := bytes.LastIndex(rest, []byte(seqField))
	if i < 1 {
		return Record{}, ErrNotChained
	}
	digits := rest[i+len(seqField):]
	if len(digits) == 0 || len(digits) > maxSeqLen || digits[0] == '0' || !allDigits(digits) {
		return Record{}, ErrNotChained
	}
	seq, err := strconv.ParseUint(string(digits), 10, 64)
	if err != nil || !isHex(mac) || !isHex(prev) || !json.Valid(line) {
		return Record{}, ErrNotChained
	}
	return Record{Seq: seq, Prev: string(prev), MAC: string(mac), Signed: signed}, nil
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// isHex accepts lower-case hex only: the MAC has one spelling.
func isHex(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// chain seals encoded events into chained lines. It is not safe for
// concurrent use; the Log holds it under its mutex.
type chain struct {
	mac  hash.Hash
	head Head
	sum  []byte
}

func newChain(key sensitive.String, head Head) *chain {
	return &chain{mac: hmac.New(sha256.New, []byte(key.Reveal())), head: head, sum: make([]byte, 0, sha256.Size)}
}

// seal appends to dst the chained line of an encoded event (a JSON object)
// and returns it with the head it would make. The head is not advanced:
// the Log does that once a sink has the line.
func (c *chain) seal(dst, event []byte) ([]byte, Head) {
	next := Head{Seq: c.head.Seq + 1}
	dst = append(dst, event[:len(event)-1]...) // without the closing brace
	dst = append(dst, seqField...)
	dst = strconv.AppendUint(dst, next.Seq, 10)
	dst = append(dst, prevField...)
	dst = append(dst, c.head.prev()...)
	dst = append(dst, '"')
	c.mac.Reset()
	c.mac.Write(dst)
	c.sum = c.mac.Sum(c.sum[:0])
	dst = append(dst, macField...)
	start := len(dst)
	dst = hex.AppendEncode(dst, c.sum)
	next.MAC = string(dst[start:])
	return append(dst, `"}`...), next
}

// check reports whether r's MAC is right under key.
func (c *chain) check(r Record) bool {
	c.mac.Reset()
	c.mac.Write(r.Signed)
	c.sum = c.mac.Sum(c.sum[:0])
	var want [macLen]byte
	hex.Encode(want[:], c.sum)
	return hmac.Equal(want[:], []byte(r.MAC))
}
