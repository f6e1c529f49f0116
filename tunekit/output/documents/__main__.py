"""`python -m tunekit.output.documents`: the field lists of docs/json.md."""

from tunekit.output.documents import markdown

print(markdown())
