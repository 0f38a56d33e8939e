"""Reading the Kafka log back: audit timelines, replay, the sandbox and delivery status.

The log is the audit trail. Everything here reads it with confluent-kafka, seeking by
timestamp and stopping at the end offsets captured when a read starts, so a read over a
month of records streams through them instead of loading them.
"""
