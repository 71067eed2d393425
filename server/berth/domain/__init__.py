"""What Berth knows without touching the world: errors, slugs, configuration, port arithmetic,
env-var naming, file layout, stored records and wire models. Imports nothing else of Berth."""
