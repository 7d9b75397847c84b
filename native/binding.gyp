{ "targets": [ { "target_name": "mig_native", "sources": [ "src/mmap.c", "src/subpage.c" ], "cflags": [ "-O2" ] } ] }
