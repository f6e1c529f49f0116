"""What tunekit knows, as data: the key catalogue (catalogue.py, with the type of an
entry in keys.py and the one bounds validator in bounds.py), lint's rules (rules.toml)
and where the profiles are (profiles.py)."""
