// A Standard Webhooks receiver in plain Java (JDK only: javax.crypto, java.util.Base64), as
// docs/receivers.md shows it: verify webhook-id, webhook-timestamp and webhook-signature over the
// raw body bytes, refuse a timestamp more than 5 minutes from this clock, accept any one of the
// space-separated signatures (two during a secret's rotation).
//
//   java StandardReceiver <port> <whsec_ secret> [<another whsec_ secret>]
//
// Answers 204 when the request verifies with any of the secrets, else 401; prints one line per request:
//   <webhook-id> ok=<true|false> signatures=<how many the header carried>

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Base64;
import java.util.concurrent.Executors;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

public class StandardReceiver {
    static final long TOLERANCE_SECONDS = 5 * 60;

    // The verification a receiver copies: true when one signature of the header matches.
    static boolean verify(String secret, String id, String timestamp, String signatures, byte[] body) throws Exception {
        if (id == null || timestamp == null || signatures == null) {
            return false;
        }
        long sent;
        try {
            sent = Long.parseLong(timestamp);
        } catch (NumberFormatException e) {
            return false;
        }
        if (Math.abs(System.currentTimeMillis() / 1000 - sent) > TOLERANCE_SECONDS) {
            return false; // too old or too new: a replay, or a clock far off
        }
        byte[] key = Base64.getDecoder().decode(secret.substring("whsec_".length()));
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(key, "HmacSHA256"));
        mac.update((id + "." + timestamp + ".").getBytes(StandardCharsets.UTF_8));
        byte[] expected = mac.doFinal(body);
        for (String versioned : signatures.split(" ")) {
            String[] parts = versioned.split(",", 2);
            if (parts.length == 2 && parts[0].equals("v1")) {
                byte[] given;
                try {
                    given = Base64.getDecoder().decode(parts[1]);
                } catch (IllegalArgumentException e) {
                    continue;
                }
                if (MessageDigest.isEqual(expected, given)) {
                    return true;
                }
            }
        }
        return false;
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(args[0]);
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 64);
        server.setExecutor(Executors.newFixedThreadPool(8));
        server.createContext("/", (HttpExchange exchange) -> {
            try {
                byte[] body = exchange.getRequestBody().readAllBytes();
                String id = exchange.getRequestHeaders().getFirst("webhook-id");
                String timestamp = exchange.getRequestHeaders().getFirst("webhook-timestamp");
                String signatures = exchange.getRequestHeaders().getFirst("webhook-signature");
                boolean ok = false;
                for (int i = 1; i < args.length && !ok; i++) {
                    ok = verify(args[i], id, timestamp, signatures, body);
                }
                int count = signatures == null ? 0 : signatures.split(" ").length;
                synchronized (System.out) {
                    System.out.println(id + " ok=" + ok + " signatures=" + count);
                    System.out.flush();
                }
                exchange.sendResponseHeaders(ok ? 204 : 401, -1);
            } catch (Exception e) {
                exchange.sendResponseHeaders(500, -1);
            } finally {
                exchange.close();
            }
        });
        server.start();
        System.out.println("READY " + port);
        System.out.flush();
    }
}
