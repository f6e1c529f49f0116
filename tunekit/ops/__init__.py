"""The use cases, one function each, with typed options in and a typed result out, and no
typer: the CLI's commands, the Ansible module and `status` call these."""
