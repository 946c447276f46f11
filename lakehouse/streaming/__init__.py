"""IoT telemetry through Apache Kafka: a local broker, a device swarm, and streaming ingestion."""
