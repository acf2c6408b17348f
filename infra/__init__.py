"""Host-side helpers every tool layer shares and none owns: the docker CLI, the Lambda service formats.

Above core/ (which it may import) and below models/, images/, bench/ and deploy/ (which import it), so
bench/ and deploy/ meet here instead of importing each other, and models/ can run a container without
importing images/. Never shipped in an image.
"""
