package mototest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Capacity is what a Meter measured: DynamoDB requests and the write and
// read request units on-demand DynamoDB would bill for them.
type Capacity struct {
	Requests   int
	WriteUnits float64
	ReadUnits  float64
}

// Meter is a proxy in front of an AWS endpoint (a Proxy, or moto itself)
// that works out the capacity each DynamoDB request consumes, as on-demand
// DynamoDB bills it, from the sizes of the items involved, which moto does
// not report. It knows each item before a write as it last saw it written,
// reading it from moto before an update or a delete of an item it has not
// seen (a put of one is taken to create it), and after the write from the
// write itself or, for an update or a failed condition, by reading it
// from moto once the answer has gone out; those reads go straight to moto
// and are not counted. So it assumes that nothing else writes the items
// it has seen, and that two writes of one item do not overlap (a Proxy
// behind it serialises DynamoDB requests):
//
//   - a write costs one write unit per started KB of the larger of the item
//     before and after it (at least one), also when its condition fails
//     (then of the item as it was); a delete, of the item deleted;
//   - each global secondary index whose key attribute the write sets, changes
//     or removes costs one write unit more per index entry written or
//     deleted (the index entries of this project are keys only, under 1 KB);
//   - a read costs one unit per started 4 KB read when strongly consistent,
//     half as much when eventually consistent (an index query always is), at
//     least one such step, also when nothing is found.
//
// Item sizes follow DynamoDB's rules: attribute names and string values by
// their UTF-8 bytes, numbers by their significant digits (half a byte each,
// plus one), binaries by their bytes, booleans and nulls one byte, lists and
// maps three bytes plus one per element plus the elements.
type Meter struct {
	URL string

	moto    string
	keys    []string // the table's key attributes
	indexes []string // the key attributes of its global secondary indexes

	mu       sync.Mutex
	settled  *sync.Cond // signalled when inflight drops to zero
	inflight int        // requests whose units are not counted yet
	total    Capacity
	items    map[string]map[string]any // the items as the meter last saw them
	srv      *httptest.Server
}

// NewMeter starts a Meter in front of target that reads items from moto
// (the moto server's URL) and stops with the test. The table's keys are
// pk and sk, and its one index is keyed by StatusIndex, as Deploy creates
// them.
func NewMeter(tb testing.TB, target, moto string) *Meter {
	tb.Helper()
	u, err := url.Parse(target)
	if err != nil {
		tb.Fatalf("mototest: meter target: %v", err)
	}
	m := &Meter{moto: moto, keys: []string{"pk", "sk"}, indexes: []string{StatusIndex}, items: map[string]map[string]any{}}
	m.settled = sync.NewCond(&m.mu)
	rp := httputil.NewSingleHostReverseProxy(u)
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
		if !ok {
			rp.ServeHTTP(w, r)
			return
		}
		m.begin()
		defer m.end()
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var req ddbRequest
		_ = json.Unmarshal(body, &req)
		key := req.Key
		if op == "PutItem" {
			key = m.keyOf(req.Item)
		}
		auth := r.Header.Get("Authorization")
		// The item before the write: as the meter last saw it; an update or
		// a delete of an item it has not seen reads it first. A put of an
		// item it has not seen is taken to create it, unless its condition
		// fails: then the item, unchanged, is read after the answer.
		before, seen := m.seen(req.TableName, key)
		if !seen && (op == "UpdateItem" || op == "DeleteItem") {
			before = m.get(req.TableName, key, auth)
		}
		rec := httptest.NewRecorder()
		rp.ServeHTTP(rec, r)
		// The answer goes out before the meter's own read of the item, so
		// that the reads add little to the caller's latency.
		for k, vs := range rec.Header() {
			w.Header()[k] = vs
		}
		w.Header().Set("Content-Length", strconv.Itoa(rec.Body.Len()))
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		ok = rec.Code/100 == 2
		failedCondition := rec.Code == http.StatusBadRequest && strings.Contains(rec.Body.String(), "ConditionalCheckFailed")
		var after map[string]any
		switch {
		case op == "PutItem" && ok:
			after = req.Item
		case op == "UpdateItem" && ok:
			after = m.get(req.TableName, key, auth)
		case isWrite(op) && !ok:
			if !seen && op == "PutItem" {
				before = m.get(req.TableName, key, auth)
			}
			after = before
		}
		if isWrite(op) {
			m.remember(req.TableName, key, after)
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		m.total.Requests++
		switch {
		case isWrite(op) && ok:
			size := max(itemSize(before), itemSize(after))
			m.total.WriteUnits += writeUnits(size) + m.indexWrites(before, after)
		case isWrite(op) && failedCondition:
			m.total.WriteUnits += writeUnits(itemSize(before))
		case (op == "GetItem" || op == "Query") && ok:
			var resp struct {
				Item  map[string]any   `json:"Item"`
				Items []map[string]any `json:"Items"`
			}
			_ = json.Unmarshal(rec.Body.Bytes(), &resp)
			size := itemSize(resp.Item)
			for _, it := range resp.Items {
				size += itemSize(it)
			}
			steps := math.Max(1, math.Ceil(float64(size)/4096))
			if !req.ConsistentRead || req.IndexName != "" {
				steps /= 2
			}
			m.total.ReadUnits += steps
		}
	}))
	m.URL = m.srv.URL
	tb.Cleanup(m.srv.Close)
	return m
}

// ddbRequest holds the fields of a DynamoDB request the Meter reads.
type ddbRequest struct {
	TableName      string
	Key            map[string]any
	Item           map[string]any
	ConsistentRead bool
	IndexName      string
}

func isWrite(op string) bool { return op == "PutItem" || op == "UpdateItem" || op == "DeleteItem" }

// begin and end bracket the handling of a request, which goes on after
// its answer went out.
func (m *Meter) begin() {
	m.mu.Lock()
	m.inflight++
	m.mu.Unlock()
}

func (m *Meter) end() {
	m.mu.Lock()
	m.inflight--
	if m.inflight == 0 {
		m.settled.Broadcast()
	}
	m.mu.Unlock()
}

// Capacity returns what the Meter measured since it started or was Reset,
// once the requests answered so far are counted.
func (m *Meter) Capacity() Capacity {
	m.mu.Lock()
	defer m.mu.Unlock()
	for m.inflight > 0 {
		m.settled.Wait()
	}
	return m.total
}

// Reset zeroes the measures, once the requests answered so far are
// counted.
func (m *Meter) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for m.inflight > 0 {
		m.settled.Wait()
	}
	m.total = Capacity{}
}

// keyOf returns the key attributes of item.
func (m *Meter) keyOf(item map[string]any) map[string]any {
	key := map[string]any{}
	for _, k := range m.keys {
		if v, ok := item[k]; ok {
			key[k] = v
		}
	}
	return key
}

// itemID identifies an item of a table.
func itemID(table string, key map[string]any) string {
	b, _ := json.Marshal(key) // map keys in order
	return table + "\x00" + string(b)
}

// seen returns the item of key as the meter last saw it, and whether it
// has seen it (a nil item: there was none).
func (m *Meter) seen(table string, key map[string]any) (map[string]any, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	item, ok := m.items[itemID(table, key)]
	return item, ok
}

// remember keeps item as the item of key (nil: there is none).
func (m *Meter) remember(table string, key map[string]any, item map[string]any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.items[itemID(table, key)] = item
}

// get reads the item of key from moto (nil when there is none).
func (m *Meter) get(table string, key map[string]any, auth string) map[string]any {
	if table == "" || len(key) == 0 {
		return nil
	}
	body, _ := json.Marshal(map[string]any{"TableName": table, "Key": key, "ConsistentRead": true})
	req, err := http.NewRequest(http.MethodPost, m.moto, bytes.NewReader(body))
	if err != nil {
		return nil
	}
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.GetItem")
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("Authorization", auth) // moto reads the region from it
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var out struct{ Item map[string]any }
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return out.Item
}

// indexWrites is the write units a change from before to after costs in
// the global secondary indexes: one per index entry put or deleted.
func (m *Meter) indexWrites(before, after map[string]any) float64 {
	units := 0.0
	for _, attr := range m.indexes {
		b, hadB := before[attr]
		a, hasA := after[attr]
		same := hadB && hasA && jsonEqual(a, b)
		if hadB && !same {
			units++ // the old entry is deleted
		}
		if hasA && !same {
			units++ // the new entry is put
		}
	}
	return units
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// writeUnits is the write units of an item of size bytes.
func writeUnits(size int) float64 { return math.Max(1, math.Ceil(float64(size)/1024)) }

// itemSize is the size of an item in DynamoDB's JSON form.
func itemSize(item map[string]any) int {
	n := 0
	for name, v := range item {
		n += len(name) + valueSize(v)
	}
	return n
}

// valueSize is the size of one attribute value ({"S": …}, {"N": …}, …).
func valueSize(v any) int {
	av, ok := v.(map[string]any)
	if !ok {
		return 0
	}
	for typ, x := range av {
		switch typ {
		case "S":
			s, _ := x.(string)
			return len(s)
		case "N":
			s, _ := x.(string)
			return numberSize(s)
		case "B":
			s, _ := x.(string)
			b, _ := base64.StdEncoding.DecodeString(s)
			return len(b)
		case "BOOL", "NULL":
			return 1
		case "SS", "NS", "BS":
			n := 0
			for _, e := range x.([]any) {
				s, _ := e.(string)
				switch typ {
				case "SS":
					n += len(s)
				case "NS":
					n += numberSize(s)
				default:
					b, _ := base64.StdEncoding.DecodeString(s)
					n += len(b)
				}
			}
			return n
		case "L":
			n := 3
			for _, e := range x.([]any) {
				n += 1 + valueSize(e)
			}
			return n
		case "M":
			n := 3
			for name, e := range x.(map[string]any) {
				n += 1 + len(name) + valueSize(e)
			}
			return n
		}
	}
	return 0
}

// numberSize is the size of a number: one byte per two significant
// digits, plus one.
func numberSize(s string) int {
	s = strings.TrimLeft(s, "+-")
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		s = s[:i]
	}
	s = strings.ReplaceAll(s, ".", "")
	s = strings.Trim(s, "0")
	if s == "" {
		return 1
	}
	return (len(s)+1)/2 + 1
}
