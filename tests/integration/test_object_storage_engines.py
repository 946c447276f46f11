"""Each engine writes Delta to the project's S3 server as docs/object_storage.md says: Sail with the
standard AWS_* variables, Apache Spark through S3A (the jars `make setup` fetched); delta-rs reads
what either wrote."""

from __future__ import annotations

import uuid

import pytest
from deltalake import DeltaTable

from lakehouse.s3server import S3Server

pytestmark = pytest.mark.integration


def _s3a(spark, server: S3Server) -> None:  # noqa: ANN001
    # the driver JVM started before this server, so it cannot take the keys from its environment
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    settings = {
        "fs.s3a.endpoint": server.endpoint,
        "fs.s3a.path.style.access": "true",
        "fs.s3a.connection.ssl.enabled": "false",
        "fs.s3a.access.key": server.access_key,
        "fs.s3a.secret.key": server.secret_key,
    }
    for key, value in settings.items():
        conf.set(key, value)


def test_the_engine_writes_delta_that_delta_rs_reads(
    engine: str, spark, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)  # Sail (in this process) reads them when it first opens the bucket
    bucket = f"engine-{uuid.uuid4().hex[:8]}"
    s3_server.create_bucket(bucket)
    if engine == "spark":
        _s3a(spark, s3_server)
    scheme = "s3a" if engine == "spark" else "s3"
    rows = spark.createDataFrame([(1, "a"), (2, "b"), (3, "c")], "id INT, label STRING")
    rows.write.format("delta").save(f"{scheme}://{bucket}/t")
    rows.where("id = 3").write.format("delta").mode("append").save(f"{scheme}://{bucket}/t")

    assert spark.read.format("delta").load(f"{scheme}://{bucket}/t").count() == 4
    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=bucket, Prefix="t/_delta_log/")["Contents"]]
    assert {"t/_delta_log/00000000000000000000.json", "t/_delta_log/00000000000000000001.json"} <= set(keys)
    table = DeltaTable(f"s3://{bucket}/t", storage_options=s3_server.env()).to_pyarrow_table()
    assert sorted(table.column("id").to_pylist()) == [1, 2, 3, 3]
