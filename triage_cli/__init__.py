"""`triage`: the operator's command line for the triage HTTP APIs (CMDB and known-error imports, a test alert,
incidents) and for creating the Kafka topics."""
