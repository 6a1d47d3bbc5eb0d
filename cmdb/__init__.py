"""The inventory: clients, contacts, sites, racks, assets, IP space, services, dependencies."""
