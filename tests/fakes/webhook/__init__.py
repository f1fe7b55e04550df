"""What CDEvents senders send: the spec's examples, signed requests, a server to send them to."""
