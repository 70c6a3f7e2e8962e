"""Server status: host, CPU, memory, disks and this process (`GET /api/v1/monitor/server`)."""
