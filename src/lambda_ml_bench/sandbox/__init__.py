"""The isolated process: Debian roots per architecture, bubblewrap with namespaces, an environment's network
and /tmp, the allotment (and the RIE, the benchmark's baseline)."""
