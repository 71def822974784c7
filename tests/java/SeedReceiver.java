// A receiver written as the seed's Java sample (user guide 6.1) tells a customer's developer to:
// bind the body to a Map (Jackson, as a Spring @RequestBody Map does), serialize it again with
// Gson's defaults, strip whitespace, HMAC-SHA256 hex with commons-codec, compare with the header.
// It also checks the raw body (strip \s+, HMAC), the other way a receiver may verify.
//
//   java -cp gson.jar:commons-codec.jar:jackson-*.jar:. SeedReceiver <port> <secret>
//
// Answers 200 when both checks pass, else 401; prints one line per request:
//   <delivery id> map-ok=<true|false> raw-ok=<true|false>
// and, when the Map check fails, what Gson wrote, so a failure shows the difference.

import com.fasterxml.jackson.databind.ObjectMapper;
import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import org.apache.commons.codec.digest.HmacUtils;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Executors;

public class SeedReceiver {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    // The seed's code, word for word.
    @SuppressWarnings({"rawtypes", "deprecation"})
    static String sign(Map payload, String secret) {
        Gson gson = new GsonBuilder().create();
        String str = gson.toJson(payload);
        return HmacUtils.hmacSha256Hex(secret, str.replaceAll("\\s+", ""));
    }

    @SuppressWarnings("deprecation")
    static String signRaw(String body, String secret) {
        return HmacUtils.hmacSha256Hex(secret, body.replaceAll("\\s+", ""));
    }

    static boolean same(String a, String b) {
        if (a == null || b == null) {
            return false;
        }
        return MessageDigest.isEqual(a.getBytes(StandardCharsets.UTF_8), b.getBytes(StandardCharsets.UTF_8));
    }

    public static void main(String[] args) throws IOException {
        int port = Integer.parseInt(args[0]);
        String secret = args[1];
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 128);
        server.createContext("/", exchange -> handle(exchange, secret));
        server.setExecutor(Executors.newFixedThreadPool(8));
        server.start();
        System.out.println("READY " + port);
        System.out.flush();
    }

    @SuppressWarnings("rawtypes")
    static void handle(HttpExchange exchange, String secret) throws IOException {
        String id = exchange.getRequestHeaders().getFirst("X-Clab-Delivery-Id");
        String signature = exchange.getRequestHeaders().getFirst("X-Clab-Hmac-Signature");
        String body = new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
        boolean mapOk = false;
        String gsonText = "";
        try {
            Map payload = MAPPER.readValue(body, LinkedHashMap.class);
            gsonText = new GsonBuilder().create().toJson(payload);
            mapOk = same(sign(payload, secret), signature);
        } catch (Exception e) {
            gsonText = "unreadable: " + e;
        }
        boolean rawOk = same(signRaw(body, secret), signature);
        int status = mapOk && rawOk ? 200 : 401;
        StringBuilder line = new StringBuilder();
        line.append(id).append(" map-ok=").append(mapOk).append(" raw-ok=").append(rawOk);
        if (!mapOk) {
            line.append("\n  body: ").append(body).append("\n  gson: ").append(gsonText);
        }
        synchronized (System.out) {
            System.out.println(line);
            System.out.flush();
        }
        byte[] answer = ("{\"ok\":" + (status == 200) + "}").getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "application/json");
        exchange.sendResponseHeaders(status, answer.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(answer);
        }
    }
}
