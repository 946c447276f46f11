"""What the server's libraries may log: nothing that quotes a query, a value or a key.

The Spark Connect client logs every failed call ("GRPC Error received") with the server's
message, which quotes the statement's values; PySpark logs analysis errors with their SQL
fragment. uvicorn's default logging setup re-enables loggers PySpark had disabled. So the server
keeps uvicorn's hands off logging (`log_config=None`), and turns these loggers off unless the
log level is DEBUG; uvicorn's error log keeps its one-line messages but not tracebacks, whose
exception messages may quote a request.
"""

from __future__ import annotations

import logging

from pyspark.logger import PySparkLogger

OFF = logging.CRITICAL + 10
# Loggers whose messages quote queries, values or the server's error details.
QUOTING = ("pyspark.sql.connect", "pyspark.sql.connect.logging", "pyspark.sql.connect.client",
           "SQLQueryContextLogger", "DataFrameQueryContextLogger", "grpc", "py4j")
PYSPARK_LOGGERS = ("pyspark.sql.connect.logging", "SQLQueryContextLogger", "DataFrameQueryContextLogger")


class NoDetails(logging.Filter):
    """Drops a record's traceback unless the logger is at DEBUG (the type of error is kept)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
            kind = record.exc_info[0].__name__ if record.exc_info[0] else "error"
            record.msg = f"{record.getMessage()} ({kind})"
            record.args = None
            record.exc_info, record.exc_text = None, None
        return True


def quiet_libraries(debug: bool | None = None) -> None:
    """Configure the libraries' loggers; `debug` defaults to whether the root logger is at DEBUG."""
    if debug is None:
        debug = logging.getLogger().isEnabledFor(logging.DEBUG)
    for name in PYSPARK_LOGGERS:  # PySpark makes these with a JSON handler of their own
        PySparkLogger.getLogger(name)
    for name in QUOTING:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):  # through the root handler, like everything else
            logger.removeHandler(handler)
        logger.propagate = True
        logger.disabled = not debug
        logger.setLevel(logging.DEBUG if debug else OFF)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.asgi"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.DEBUG if debug else logging.WARNING)
        if not any(isinstance(f, NoDetails) for f in logger.filters):
            logger.addFilter(NoDetails())
    access = logging.getLogger("uvicorn.access")  # its lines hold the query string: ours do not
    access.disabled = not debug
    access.setLevel(logging.DEBUG if debug else OFF)
