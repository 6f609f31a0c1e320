package filesource_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/chorusml/chorus/sources"
	"github.com/chorusml/chorus/sources/filesource"
)

func Example() {
	dir, _ := os.MkdirTemp("", "filesource")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "feedback.jsonl")
	_ = os.WriteFile(path, []byte(
		`{"response_id":"r-1","tenant":"acme","text":"Great app"}`+"\n"+
			`not json`+"\n"), 0o644)

	ctx := context.Background()
	src, err := filesource.Open(path, filesource.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer src.Close(ctx)

	// Pull until every line is handed out and resolved.
	for {
		select {
		case <-src.Done():
			dls, _ := filesource.ReadDeadLetters(path + ".deadletter.jsonl")
			for _, dl := range dls {
				id := dl.Attributes[sources.AttrSourceMessageID]
				fmt.Printf("dead-lettered line %s: %s\n", strings.TrimPrefix(id, path+":"), dl.Attributes[sources.AttrErrorClass])
			}
			return
		default:
		}
		msgs, err := src.Receive(ctx, 100)
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, m := range msgs {
			fmt.Printf("line %s\n", strings.TrimPrefix(m.ID, path+":"))
			if m.Body[0] != '{' {
				_ = src.DeadLetter(ctx, []sources.DeadLetter{{Message: m, Body: m.Body, Reason: "bad_json", Stage: "decode"}})
			}
		}
		_ = src.Ack(ctx, msgs)
	}
	// Output:
	// line 1
	// line 2
	// dead-lettered line 2: bad_json
}
