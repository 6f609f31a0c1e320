package sources

import "time"

// DLQMessage is a message read back from a dead-letter queue or
// subscription by a driver's dead-letter reader, for the operator tools
// that inspect and replay dead letters without importing a broker's SDK.
type DLQMessage struct {
	// ID is the dead letter's own message id in the DLQ (Pub/Sub message
	// id, SQS MessageId).
	ID         string
	Body       []byte
	Attributes map[string]string
	// OrderingKey is the Pub/Sub ordering key or the SQS FIFO message
	// group.
	OrderingKey string
	// PublishTime is when the dead letter reached the DLQ (Pub/Sub publish
	// time; SQS SentTimestamp).
	PublishTime time.Time
	// ReceiveCount is the broker's count of deliveries of the dead letter,
	// 0 if unknown.
	ReceiveCount int
	// Handle is what acks or releases the message: the Pub/Sub ack id or
	// the SQS receipt handle.
	Handle string
}
