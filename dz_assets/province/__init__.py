"""Provincial packages: reading and checking them, the batch registry, loads into ODS, objects."""
