// The PostgreSQL JDBC driver against `lakehouse serve --pg-port`, as a BI tool uses it:
// java -cp postgresql.jar Probe.java URL PASSWORD STEP...   Each step prints one line of JSON-ish
// text: "<step> ok <answer>" or "<step> error <SQLSTATE> <message>".
// Steps: tables, columns, param (units per country for a date, bound twice past the prepare
// threshold), version, refuse:<sql>, load:<seconds>:<clients> (the bound query on that many
// connections at once until then).
import java.math.BigDecimal;
import java.sql.*;
import java.util.*;

public class Probe {
    static final String QUERY = "SELECT country, sum(units) AS units, sum(revenue_eur) AS revenue "
            + "FROM gold.daily_sales WHERE order_date >= ? GROUP BY country ORDER BY country";

    static final Properties PROPS = new Properties();

    public static void main(String[] args) throws Exception {
        PROPS.setProperty("user", "analyst");
        PROPS.setProperty("password", args[1]);
        PROPS.setProperty("prepareThreshold", "2");
        try (Connection c = DriverManager.getConnection(args[0], PROPS)) {
            for (int i = 2; i < args.length; i++) {
                String step = args[i];
                try {
                    System.out.println(step.split(":")[0] + " ok " + run(c, step));
                } catch (SQLException e) {
                    System.out.println(step.split(":")[0] + " error " + e.getSQLState() + " "
                            + String.valueOf(e.getMessage()).replace('\n', ' '));
                }
            }
        } catch (SQLException e) {
            System.out.println("connect error " + e.getSQLState() + " " + String.valueOf(e.getMessage()).replace('\n', ' '));
        }
    }

    static String run(Connection c, String step) throws SQLException {
        DatabaseMetaData meta = c.getMetaData();
        if (step.equals("tables")) {
            List<String> names = new ArrayList<>();
            try (ResultSet rs = meta.getTables(null, "gold", "%", new String[] {"TABLE"})) {
                while (rs.next()) names.add(rs.getString("TABLE_SCHEM") + "." + rs.getString("TABLE_NAME"));
            }
            return String.join(",", names);
        }
        if (step.equals("columns")) {
            List<String> cols = new ArrayList<>();
            try (ResultSet rs = meta.getColumns(null, "gold", "daily_sales", "%")) {
                while (rs.next()) cols.add(rs.getString("COLUMN_NAME") + ":" + rs.getString("TYPE_NAME")
                        + ":" + rs.getInt("DATA_TYPE"));
            }
            return String.join(",", cols);
        }
        if (step.equals("version")) {
            try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT version()")) {
                rs.next();
                return meta.getDatabaseProductName() + "|" + rs.getString(1);
            }
        }
        if (step.startsWith("param")) {
            String answer = "";
            try (PreparedStatement p = c.prepareStatement(QUERY)) {
                for (int round = 0; round < 4; round++) {  // past prepareThreshold: binary results too
                    p.setDate(1, java.sql.Date.valueOf("2026-03-11"));
                    StringBuilder out = new StringBuilder();
                    try (ResultSet rs = p.executeQuery()) {
                        ResultSetMetaData md = rs.getMetaData();
                        out.append(md.getColumnTypeName(2)).append("/").append(md.getColumnTypeName(3));
                        while (rs.next()) {
                            BigDecimal revenue = rs.getBigDecimal(3);
                            out.append(";").append(rs.getString(1)).append("=").append(rs.getLong(2))
                               .append("=").append(revenue.toPlainString());
                        }
                    }
                    if (round > 0 && !answer.equals(out.toString())) throw new SQLException("answers differ: " + answer + " / " + out, "XX001");
                    answer = out.toString();
                }
            }
            return answer;
        }
        if (step.startsWith("refuse:")) {
            try (Statement s = c.createStatement()) {
                s.execute(step.substring("refuse:".length()));
                return "accepted";
            }
        }
        if (step.startsWith("load:")) {  // load:<seconds>:<clients>, each client on its own connection
            String[] parts = step.split(":");
            long end = System.nanoTime() + (long) (Double.parseDouble(parts[1]) * 1e9);
            int clients = parts.length > 2 ? Integer.parseInt(parts[2]) : 1;
            java.util.concurrent.atomic.AtomicLong done = new java.util.concurrent.atomic.AtomicLong();
            List<String> errors = Collections.synchronizedList(new ArrayList<>());
            List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < clients; t++) {
                Thread thread = new Thread(() -> {
                    try (Connection own = DriverManager.getConnection(c.getMetaData().getURL(), PROPS);
                         PreparedStatement p = own.prepareStatement(QUERY)) {
                        while (System.nanoTime() < end) {
                            p.setDate(1, java.sql.Date.valueOf("2026-03-11"));
                            try (ResultSet rs = p.executeQuery()) { while (rs.next()) { } }
                            done.incrementAndGet();
                        }
                    } catch (SQLException e) {
                        errors.add(e.getSQLState() + " " + e.getMessage());
                    }
                });
                threads.add(thread);
                thread.start();
            }
            for (Thread thread : threads) {
                try { thread.join(); } catch (InterruptedException e) { throw new SQLException(e); }
            }
            return done.get() + " queries, " + errors.size() + " errors" + (errors.isEmpty() ? "" : ": " + errors.get(0));
        }
        throw new IllegalArgumentException(step);
    }
}
