"""The formats ``graph`` prints, apart from the printers: the CLI's parser reads them at every start."""

FORMATS = ("dot", "mermaid")
