"""rackcard: client cards, SNMP probes and asset-linked incidents for a DC support desk."""
