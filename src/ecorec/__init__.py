"""ecorec: an ecosystem-aware recommendation platform.

The package follows the request path (see DESIGN.md): ``core`` holds the domain types and the
Pipeline, ``data`` the storage behind narrow protocols, then recall, ranking and the processes
(``cli``) that only parse, call the Pipeline and format.
"""

__version__ = "0.1.0"
