{ "targets": [ { "target_name": "mig_native", "sources": [ "src/mmap.c" ], "cflags": [ "-O2" ] } ] }
