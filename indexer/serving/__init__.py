"""A store served to other programs: `semsearch serve` (an HTTP JSON API) and `semsearch mcp` (MCP
tools over stdio), both over the `Collection` facade.

    live_collection.py  the Collection kept loaded and at the store's generation, readiness
    schemas.py          what requests carry and responses return (HTTP and MCP)
    http_api.py         the FastAPI app: routes, the token for writes
    http_errors.py      every error as JSON with a status a client can act on
    body_limit.py       the request-body bound (413)
    http_server.py      uvicorn on one socket: the "serving on" line, clean stop on SIGTERM
    mcp_tools.py        the MCP server and its tools
"""
