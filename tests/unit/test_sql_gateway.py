"""The Spark SQL endpoint's plan guard on hand-built Spark Connect plans: what a stock client
sends for reads of gold is admitted, with its SQL and table names in their checked form; anything
else is refused wherever in the plan it hides."""

from __future__ import annotations

import pytest
from pyspark.sql.connect.proto import base_pb2, catalog_pb2, commands_pb2, expressions_pb2, relations_pb2

from lakehouse.serving.sql_gateway import PlanGuard, PlanRefused

GOLD = frozenset({"gold.daily_sales", "gold.funnel_daily"})
guard = PlanGuard(lambda: GOLD)


def table(name: str) -> relations_pb2.Relation:
    return relations_pb2.Relation(read=relations_pb2.Read(named_table=relations_pb2.Read.NamedTable(
        unparsed_identifier=name)))


def sql(query: str) -> relations_pb2.Relation:
    return relations_pb2.Relation(sql=relations_pb2.SQL(query=query))


def function(name: str, *args: expressions_pb2.Expression) -> expressions_pb2.Expression:
    return expressions_pb2.Expression(unresolved_function=expressions_pb2.Expression.UnresolvedFunction(
        function_name=name, arguments=args))


def column(name: str) -> expressions_pb2.Expression:
    return expressions_pb2.Expression(unresolved_attribute=expressions_pb2.Expression.UnresolvedAttribute(
        unparsed_identifier=name))


def text(expression: str) -> expressions_pb2.Expression:
    return expressions_pb2.Expression(expression_string=expressions_pb2.Expression.ExpressionString(
        expression=expression))


def where(child: relations_pb2.Relation, condition: expressions_pb2.Expression) -> relations_pb2.Relation:
    return relations_pb2.Relation(filter=relations_pb2.Filter(input=child, condition=condition))


def join(left: relations_pb2.Relation, right: relations_pb2.Relation) -> relations_pb2.Relation:
    return relations_pb2.Relation(join=relations_pb2.Join(left=left, right=right))


def root(relation: relations_pb2.Relation) -> base_pb2.Plan:
    return base_pb2.Plan(root=relation)


def test_reads_of_gold_are_admitted_in_their_checked_form() -> None:
    plan = root(join(where(table("`gold`.`daily_sales`"), text("units > 1 -- comment")),
                     sql("select * from gold.funnel_daily /* note */")))
    guard.check_plan(plan)
    assert plan.root.join.left.filter.input.read.named_table.unparsed_identifier == "gold.daily_sales"
    assert plan.root.join.left.filter.condition.expression_string.expression == "units > 1"
    assert plan.root.join.right.sql.query == "SELECT * FROM gold.funnel_daily"


def test_sql_commands_are_checked_as_queries() -> None:
    command = base_pb2.Plan(command=commands_pb2.Command(sql_command=commands_pb2.SqlCommand(
        input=sql("SELECT COUNT(*) FROM gold.daily_sales"))))
    guard.check_plan(command)
    with pytest.raises(PlanRefused, match="DROP"):
        guard.check_plan(base_pb2.Plan(command=commands_pb2.Command(sql_command=commands_pb2.SqlCommand(
            sql="DROP TABLE gold.daily_sales"))))


@pytest.mark.parametrize(("plan", "reason"), [
    # a file read deep inside the right side of a join under a filter
    (root(where(join(table("gold.daily_sales"), relations_pb2.Relation(read=relations_pb2.Read(
        data_source=relations_pb2.Read.DataSource(format="text", paths=["/etc/passwd"])))), column("x"))),
     "reading files"),
    (root(join(table("gold.daily_sales"), table("silver.customers"))), "silver.customers"),
    (root(table("gold.customer_segments")), "not an available gold table"),
    (root(where(table("gold.daily_sales"), function("reflect", column("a")))), "reflect"),
    (root(where(table("gold.daily_sales"), function("sum", function("java_method", column("a"))))), "java_method"),
    (root(where(table("gold.daily_sales"), text("units IN (SELECT 1 FROM bronze.customers)"))), "bronze.customers"),
    (root(where(table("gold.daily_sales"), text("1) OR (1"))), "expression"),
    (root(sql("SELECT * FROM gold.daily_sales; DROP TABLE gold.daily_sales")), "one statement"),
    (root(relations_pb2.Relation(with_relations=relations_pb2.WithRelations(
        root=table("gold.daily_sales"), references=[sql("SELECT * FROM delta.`/lake/bronze/customers`")]))),
     "delta"),
    (root(relations_pb2.Relation(map_partitions=relations_pb2.MapPartitions(input=table("gold.daily_sales")))),
     "Python code"),
    (root(relations_pb2.Relation(catalog=catalog_pb2.Catalog(drop_global_temp_view=catalog_pb2.DropGlobalTempView(
        view_name="daily_sales")))), "drop_global_temp_view"),
    (root(relations_pb2.Relation(catalog=catalog_pb2.Catalog(list_tables=catalog_pb2.ListTables(
        db_name="bronze")))), "gold database only"),
    (root(relations_pb2.Relation(read=relations_pb2.Read(named_table=relations_pb2.Read.NamedTable(
        unparsed_identifier="gold.daily_sales", options={"path": "/etc"})))), "read options"),
    (base_pb2.Plan(command=commands_pb2.Command(create_dataframe_view=commands_pb2.CreateDataFrameViewCommand(
        input=table("gold.daily_sales"), name="daily_sales", is_global=True, replace=True))), "temporary views"),
    (base_pb2.Plan(command=commands_pb2.Command(write_operation=commands_pb2.WriteOperation(
        input=table("gold.daily_sales"), path="/tmp/x"))), "writing"),
])
def test_anything_else_is_refused_wherever_it_hides(plan: base_pb2.Plan, reason: str) -> None:
    with pytest.raises(PlanRefused, match=reason):
        guard.check_plan(plan)


def test_analysis_is_checked_like_execution() -> None:
    gold = root(table("gold.daily_sales"))
    guard.check_analyze(base_pb2.AnalyzePlanRequest(schema=base_pb2.AnalyzePlanRequest.Schema(plan=gold)))
    for request, reason in [
        (base_pb2.AnalyzePlanRequest(schema=base_pb2.AnalyzePlanRequest.Schema(plan=root(table("bronze.orders")))),
         "bronze.orders"),
        (base_pb2.AnalyzePlanRequest(input_files=base_pb2.AnalyzePlanRequest.InputFiles(
            plan=root(table("gold.daily_sales")))), "listing the files"),
        (base_pb2.AnalyzePlanRequest(persist=base_pb2.AnalyzePlanRequest.Persist(
            relation=table("gold.daily_sales"))), "caching"),
    ]:
        with pytest.raises(PlanRefused, match=reason):
            guard.check_analyze(request)


def test_settings_can_be_read_but_not_changed_nor_secrets_read() -> None:
    op = base_pb2.ConfigRequest.Operation
    guard.check_config(base_pb2.ConfigRequest(operation=op(get=base_pb2.ConfigRequest.Get(
        keys=["spark.sql.session.timeZone"]))))
    for operation, reason in [
        (op(set=base_pb2.ConfigRequest.Set(pairs=[base_pb2.KeyValue(key="spark.sql.ansi.enabled", value="false")])),
         "read-only"),
        (op(get_all=base_pb2.ConfigRequest.GetAll()), "read-only"),
        (op(get=base_pb2.ConfigRequest.Get(keys=["spark.hadoop.fs.s3a.secret.key"])), "spark.hadoop"),
        (op(get=base_pb2.ConfigRequest.Get(keys=["spark.sql.catalog.x.password"])), "password"),
    ]:
        with pytest.raises(PlanRefused, match=reason):
            guard.check_config(base_pb2.ConfigRequest(operation=operation))
