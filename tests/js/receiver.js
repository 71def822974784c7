// A Standard Webhooks receiver in Node.js with the public `standardwebhooks` package from npm, as
// docs/receivers.md shows it: the raw body, the three headers, the library's 5-minute window.
//
//   node receiver.js <port> <whsec_ secret>
//
// Answers 204 when the request verifies, else 401; prints one line per request:
//   <webhook-id> ok=<true|false> <the library's reason when refused>
const http = require("http");
const { Webhook } = require("standardwebhooks");

const [port, secret] = process.argv.slice(2);
// The library takes the base64 part of the secret, without its whsec_ prefix.
const wh = new Webhook(secret.replace(/^whsec_/, ""));

http
  .createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      let ok = true;
      let reason = "";
      try {
        wh.verify(body, req.headers);
      } catch (err) {
        ok = false;
        reason = err.message;
      }
      console.log(`${req.headers["webhook-id"]} ok=${ok} ${reason}`.trim());
      res.writeHead(ok ? 204 : 401);
      res.end();
    });
  })
  .listen(Number(port), "127.0.0.1", () => console.log(`READY ${port}`));
