"""rasa-sdk actions: thin adapters that read the tracker, call bot/, and return events and responses."""
