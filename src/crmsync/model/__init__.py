"""The canonical model: vendor-neutral values, records and object kinds the engine reconciles."""
