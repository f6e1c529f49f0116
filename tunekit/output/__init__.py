"""What a person or a script reads: the JSON documents (documents/) and the text renderers."""
