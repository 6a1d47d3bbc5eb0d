"""SNMP probe worker. Imports nothing from the server apps; shares only the observation wire format."""
