"""The isolated process: Debian roots per architecture, bubblewrap with namespaces, the RIE, the allotment."""
