"""Private helpers the packages share: declared settings checks (``constraints``), the names a setting
may take (``choices``), device choice (``devices``), atomic files and output folders (``files``),
picture grids (``pictures``), batched warps on the images' own device (``warps``) and PEP 562 lazy
exports (``lazy``). Nothing here imports the rest of the library; none of it is public API.
"""
