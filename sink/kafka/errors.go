package kafka

import "errors"

// Sentinel errors. Functions wrap them with the identifiers involved (node,
// port, topic, partition, offset); compare with errors.Is.
var (
	// ErrJavaNotFound means no java executable was found (JavaPath, JAVA_HOME, PATH).
	ErrJavaNotFound = errors.New("sink/kafka: java not found (install a Java 17+ runtime: `make deps-apt`)")
	// ErrJarsMissing means the Kafka broker jars are not in the jar directory.
	ErrJarsMissing = errors.New("sink/kafka: Kafka broker jars missing (run `make kafka-jars`)")
	// ErrPortInUse means a port the provider was told to use is already taken.
	ErrPortInUse = errors.New("sink/kafka: port in use")
	// ErrBrokerExited means a broker or storage-format process exited while
	// the provider waited for it; the error text includes the tail of its log.
	ErrBrokerExited = errors.New("sink/kafka: broker exited during start")
	// ErrNotReady means the cluster did not become ready before the deadline.
	ErrNotReady = errors.New("sink/kafka: cluster not ready before deadline")
	// ErrUnreachable means no broker of a bootstrap list answered.
	ErrUnreachable = errors.New("sink/kafka: bootstrap brokers unreachable")
	// ErrClosed means the provider, producer or consumer was already closed.
	ErrClosed = errors.New("sink/kafka: closed")
	// ErrBadConfig means a configuration value is invalid.
	ErrBadConfig = errors.New("sink/kafka: bad configuration")
	// ErrUnknownProvider means Options.Provider names no provider.
	ErrUnknownProvider = errors.New("sink/kafka: unknown provider")
	// ErrTopicExists means CreateTopic found the topic already there.
	ErrTopicExists = errors.New("sink/kafka: topic already exists")
	// ErrNotSent means a record was never handed to the client, so it is
	// certainly not in the topic.
	ErrNotSent = errors.New("sink/kafka: record not sent")
	// ErrOutcomeTimeout means the producer gave up waiting for a record's
	// acknowledgement; the record may or may not have been written.
	ErrOutcomeTimeout = errors.New("sink/kafka: no acknowledgement before deadline")
)
