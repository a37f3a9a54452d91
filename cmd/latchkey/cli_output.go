package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// printJSON writes JSON as the server sent it, indented, for scripts.
func printJSON(w io.Writer, raw []byte) error {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return fmt.Errorf("the server's answer is not JSON: %w", err)
	}
	b.WriteByte('\n')
	_, err := w.Write(b.Bytes())
	return err
}

// printJSONList writes items as one JSON array.
func printJSONList(w io.Writer, items []json.RawMessage) error {
	if items == nil {
		items = []json.RawMessage{}
	}
	raw, err := json.Marshal(items)
	if err != nil {
		return err
	}
	return printJSON(w, raw)
}

// printList writes the items of a list: as one JSON array for scripts
// (-o json), else as a table with headers and a row of each item read as
// a T.
func printList[T any](s *session, items []json.RawMessage, headers []string, row func(T) []string) error {
	if s.json {
		return printJSONList(s.io.stdout, items)
	}
	t := newTable(s.io.stdout, headers...)
	for _, raw := range items {
		var item T
		_ = json.Unmarshal(raw, &item)
		t.row(row(item)...)
	}
	return t.flush()
}

// table writes aligned columns for people.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, headers ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	t.row(headers...)
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		cells[i] = oneLine(c)
		if cells[i] == "" {
			cells[i] = "-"
		}
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// fields writes one object as "name: value" lines, in the order given.
func fields(w io.Writer, pairs ...string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	for i := 0; i+1 < len(pairs); i += 2 {
		fmt.Fprintf(tw, "%s:\t%s\n", pairs[i], oneLine(pairs[i+1]))
	}
	return tw.Flush()
}

// oneLine keeps a value on its line: a line break or tab a description may
// hold would break the table.
func oneLine(s string) string {
	return strings.NewReplacer("\n", `\n`, "\r", `\r`, "\t", " ").Replace(s)
}

func list(items []string) string { return strings.Join(items, ",") }

func num(n int64) string { return strconv.FormatInt(n, 10) }

// unixTime shows Unix seconds as UTC time; 0 is empty.
func unixTime(sec int64) string {
	if sec == 0 {
		return ""
	}
	return time.Unix(sec, 0).UTC().Format(time.RFC3339)
}

// secretWarning goes with every secret printed: the server keeps only a
// hash.
const secretWarning = "latchkey: the client secret is shown this once; the server keeps only its hash. Store it now.\n"
