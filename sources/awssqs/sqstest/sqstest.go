// Package sqstest runs moto_server, the Python AWS mock, for tests of the
// SQS driver and of the chorus binary: StartMoto starts one on a free
// loopback port and stops it when the test ends, and Server has helpers to
// create queues and look inside them.
//
// moto is found on PATH or in ~/.pyenv/shims; when it is missing the test
// is skipped with the reason, except under CI=true, where it fails.
package sqstest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/chorusml/chorus/worker/testenv"
)

// Static test credentials and region: moto accepts any.
const (
	AccessKeyID     = "testing"
	SecretAccessKey = "testing"
	Region          = "us-east-1"
)

// startTimeout bounds how long moto may take to listen.
const startTimeout = 30 * time.Second

// Server is a running moto_server.
type Server struct {
	endpoint string
	client   *sqs.Client
}

// StartMoto starts moto_server on a free loopback port, waits until it
// listens and kills it (its whole process group: the pyenv shim runs
// Python as a child) when t ends.
func StartMoto(t testing.TB) *Server {
	t.Helper()
	var extra []string
	if home, err := os.UserHomeDir(); err == nil {
		extra = append(extra, filepath.Join(home, ".pyenv", "shims"))
	}
	bin := testenv.LookPath(t, "moto_server", extra...)
	// The port is free when picked but may be taken before moto binds it:
	// try a few.
	var lastErr error
	for range 3 {
		s, err := start(t, bin, testenv.FreePort(t))
		if err == nil {
			return s
		}
		lastErr = err
	}
	t.Fatalf("sqstest: starting moto_server: %v", lastErr)
	return nil
}

func start(t testing.TB, bin string, port int) (*Server, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := &tail{max: 4 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("moto_server exited before listening on %s: %s", addr, out)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("moto_server not listening on %s after %v: %s", addr, startTimeout, out)
		}
	}
	t.Cleanup(stop)
	s := &Server{endpoint: "http://" + addr}
	s.client = s.newClient()
	return s, nil
}

// Endpoint is moto's base URL, e.g. http://127.0.0.1:40123.
func (s *Server) Endpoint() string { return s.endpoint }

// Env is what a child process (the chorus binary) needs to reach moto
// through the standard AWS chain: static credentials, the region and the
// SQS endpoint (AWS_ENDPOINT_URL_SQS), with the instance-metadata lookup
// off.
func (s *Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + SecretAccessKey,
		"AWS_REGION=" + Region,
		"AWS_ENDPOINT_URL_SQS=" + s.endpoint,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// Client returns a new SQS client for moto with static credentials and
// region us-east-1. Like awssqs.NewClient's, it does not retry.
func (s *Server) Client(t testing.TB) *sqs.Client {
	t.Helper()
	return s.newClient()
}

func (s *Server) newClient() *sqs.Client {
	return sqs.New(sqs.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
		Retryer:      aws.NopRetryer{},
	})
}

// QueueOpts configures CreateQueue.
type QueueOpts struct {
	// FIFO makes a FIFO queue; ".fifo" is appended to the name if missing.
	// Content-based deduplication stays off: senders give IDs.
	FIFO bool
	// VisibilityTimeout is the queue's default (whole seconds); zero
	// leaves SQS's 30s.
	VisibilityTimeout time.Duration
	// RedriveTo is the URL of a dead-letter queue that SQS moves a message
	// to after MaxReceiveCount receives.
	RedriveTo       string
	MaxReceiveCount int
}

// CreateQueue creates a queue and returns its URL.
func (s *Server) CreateQueue(ctx context.Context, name string, o QueueOpts) (string, error) {
	attrs := map[string]string{}
	if o.FIFO {
		if !strings.HasSuffix(name, ".fifo") {
			name += ".fifo"
		}
		attrs[string(types.QueueAttributeNameFifoQueue)] = "true"
	}
	if o.VisibilityTimeout > 0 {
		attrs[string(types.QueueAttributeNameVisibilityTimeout)] = strconv.Itoa(int((o.VisibilityTimeout + time.Second - 1) / time.Second))
	}
	if o.RedriveTo != "" {
		if o.MaxReceiveCount <= 0 {
			return "", errors.New("sqstest: RedriveTo needs MaxReceiveCount > 0")
		}
		arn, err := s.queueARN(ctx, o.RedriveTo)
		if err != nil {
			return "", err
		}
		policy, _ := json.Marshal(map[string]string{
			"deadLetterTargetArn": arn,
			"maxReceiveCount":     strconv.Itoa(o.MaxReceiveCount),
		})
		attrs[string(types.QueueAttributeNameRedrivePolicy)] = string(policy)
	}
	out, err := s.client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: &name, Attributes: attrs})
	if err != nil {
		return "", fmt.Errorf("sqstest: create queue %s: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

func (s *Server) queueARN(ctx context.Context, url string) (string, error) {
	out, err := s.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: &url, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return "", fmt.Errorf("sqstest: queue ARN of %s: %w", url, err)
	}
	return out.Attributes[string(types.QueueAttributeNameQueueArn)], nil
}

// Message is a message read back from a queue.
type Message struct {
	ID           string
	Body         string
	Attributes   map[string]string // message attributes (String and Number values)
	GroupID      string
	ReceiveCount int
	SentAt       time.Time
}

// ReceiveAll receives every visible message of url and deletes it,
// returning them oldest first (by SentTimestamp, then receive order). It
// stops at the first empty receive.
func (s *Server) ReceiveAll(ctx context.Context, url string) ([]Message, error) {
	var all []Message
	for {
		out, err := s.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:              &url,
			MaxNumberOfMessages:   10,
			VisibilityTimeout:     60,
			MessageAttributeNames: []string{"All"},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{
				types.MessageSystemAttributeNameAll,
			},
		})
		if err != nil {
			return all, fmt.Errorf("sqstest: receive from %s: %w", url, err)
		}
		if len(out.Messages) == 0 {
			break
		}
		del := &sqs.DeleteMessageBatchInput{QueueUrl: &url}
		for i, m := range out.Messages {
			all = append(all, message(m))
			del.Entries = append(del.Entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle})
		}
		if res, err := s.client.DeleteMessageBatch(ctx, del); err != nil {
			return all, fmt.Errorf("sqstest: delete from %s: %w", url, err)
		} else if len(res.Failed) > 0 {
			return all, fmt.Errorf("sqstest: delete from %s: %d failed: %s", url, len(res.Failed), aws.ToString(res.Failed[0].Message))
		}
	}
	slices.SortStableFunc(all, func(a, b Message) int { return a.SentAt.Compare(b.SentAt) })
	return all, nil
}

func message(m types.Message) Message {
	out := Message{ID: aws.ToString(m.MessageId), Body: aws.ToString(m.Body), Attributes: map[string]string{}}
	for k, v := range m.MessageAttributes {
		if v.StringValue != nil {
			out.Attributes[k] = *v.StringValue
		}
	}
	out.GroupID = m.Attributes[string(types.MessageSystemAttributeNameMessageGroupId)]
	out.ReceiveCount, _ = strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	if ms, err := strconv.ParseInt(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
		out.SentAt = time.UnixMilli(ms)
	}
	return out
}

// Depth is a queue's approximate message counts.
type Depth struct {
	Visible, NotVisible, Delayed int
}

// Empty reports whether the queue holds nothing, in flight or not.
func (d Depth) Empty() bool { return d == Depth{} }

// Depth returns url's ApproximateNumberOfMessages, …NotVisible and
// …Delayed. (moto counts exactly.)
func (s *Server) Depth(ctx context.Context, url string) (Depth, error) {
	out, err := s.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: &url,
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
		},
	})
	if err != nil {
		return Depth{}, fmt.Errorf("sqstest: depth of %s: %w", url, err)
	}
	n := func(a types.QueueAttributeName) int {
		v, _ := strconv.Atoi(out.Attributes[string(a)])
		return v
	}
	return Depth{
		Visible:    n(types.QueueAttributeNameApproximateNumberOfMessages),
		NotVisible: n(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible),
		Delayed:    n(types.QueueAttributeNameApproximateNumberOfMessagesDelayed),
	}, nil
}

// tail keeps the last max bytes written to it, for error messages.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (w *tail) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b = append(w.b, p...)
	if len(w.b) > w.max {
		w.b = w.b[len(w.b)-w.max:]
	}
	return len(p), nil
}

func (w *tail) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(bytes.TrimSpace(w.b))
}

// DeleteLog records the receipt handle of every entry that a client's
// DeleteMessageBatch calls deleted, so a test can tell moto's leftovers
// from messages the code under test never deleted: moto's
// Queue.delete_message rebuilds the queue's message list without a lock,
// so two concurrent deletes can each put back the message the other
// removed. The message stays invisible, and its receipt handles still
// work, until its visibility timeout ends.
type DeleteLog struct {
	mu      sync.Mutex
	handles []string
}

// Record returns a copy of c whose successful deletes l records.
func (l *DeleteLog) Record(c *sqs.Client) *sqs.Client {
	return sqs.New(c.Options(), func(o *sqs.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Initialize.Add(middleware.InitializeMiddlewareFunc("sqstest.DeleteLog", l.observe), middleware.After)
		})
	})
}

func (l *DeleteLog) observe(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	out, md, err := next.HandleInitialize(ctx, in)
	req, ok := in.Parameters.(*sqs.DeleteMessageBatchInput)
	res, ok2 := out.Result.(*sqs.DeleteMessageBatchOutput)
	if err != nil || !ok || !ok2 {
		return out, md, err
	}
	byID := make(map[string]string, len(req.Entries))
	for _, e := range req.Entries {
		byID[aws.ToString(e.Id)] = aws.ToString(e.ReceiptHandle)
	}
	l.mu.Lock()
	for _, s := range res.Successful {
		if h, found := byID[aws.ToString(s.Id)]; found {
			l.handles = append(l.handles, h)
		}
	}
	l.mu.Unlock()
	return out, md, err
}

// Handles returns the receipt handles of the deleted entries so far.
func (l *DeleteLog) Handles() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.handles)
}

// Revive makes visible again every message of url that still answers to
// one of handles, which were all deleted successfully: on real SQS none
// does; on moto these are the messages its unlocked delete put back. It
// returns how many it revived; ReceiveAll then reads and removes them.
func (s *Server) Revive(ctx context.Context, url string, handles []string) (int, error) {
	n := 0
	for chunk := range slices.Chunk(handles, 10) {
		in := &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: &url}
		for i, h := range chunk {
			in.Entries = append(in.Entries, types.ChangeMessageVisibilityBatchRequestEntry{
				Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(h), VisibilityTimeout: 0,
			})
		}
		out, err := s.client.ChangeMessageVisibilityBatch(ctx, in)
		if err != nil {
			return n, fmt.Errorf("sqstest: revive in %s: %w", url, err)
		}
		n += len(out.Successful)
	}
	return n, nil
}
