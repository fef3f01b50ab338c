"""Tool implementations, importable as `maslab.tools.<name>` (the `@tool` machinery is `maslab.tool`).

Each tool reaches the default registry through a `maslab.tools` entry point in pyproject.toml,
imported only when the tool is first asked for, so code running inside the sandbox can import
one tool module (e.g. `maslab.tools.travel`) without paying for the rest.
"""
