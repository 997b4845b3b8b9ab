#   processes: start five worker processes and join them, each reporting
#   its number (Python: Process(target=f, args=(i,)).start() then join()).
#
#       troupe run examples/processes.zpl
#
pipeline = processes

actor = worker
    module = hello
    instances = 5
    out = reports
    args
        message = "hello from worker"

actor = report
    module = print
    in = reports
