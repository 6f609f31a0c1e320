package job_test

import (
	"fmt"

	"github.com/chorusml/chorus/worker/errkind"
	"github.com/chorusml/chorus/worker/job"
)

func ExampleDecode() {
	body := []byte(`[
		{"response_id":"r-1","text":"Support was quick."},
		{"response_id":"r-2","text":"   "},
		{"response_id":"r-3","tenant":"globex","text":"Crashes daily."}
	]`)
	attrs := map[string]string{job.AttrTenant: "acme"}
	entries, err := job.Decode(body, attrs, job.Limits{MaxTextBytes: 10000})
	if err != nil {
		// The whole message is dead-lettered with errkind.ReasonOf(err).
		fmt.Println("dead-letter message:", errkind.ReasonOf(err))
		return
	}
	for _, e := range entries {
		if e.Err != nil {
			// e.Raw is dead-lettered; Job still holds what decoded.
			fmt.Printf("dead-letter %s: %v\n", e.Job.ResponseID, e.Err)
			continue
		}
		fmt.Printf("score %s/%s: %q\n", e.Job.Tenant, e.Job.ResponseID, e.Job.Text)
	}
	// Output:
	// score acme/r-1: "Support was quick."
	// dead-letter r-2: empty_text: job 1: field "text": is empty or only whitespace
	// dead-letter r-3: tenant_mismatch: job 2: field "tenant": "globex" differs from the message's tenant attribute "acme"
}
