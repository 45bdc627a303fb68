"""Kafka adapters: the embedded Tansu broker, topic administration and the dead-letter producer."""
