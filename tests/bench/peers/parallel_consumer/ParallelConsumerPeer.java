import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.confluent.parallelconsumer.ParallelConsumerOptions;
import io.confluent.parallelconsumer.ParallelConsumerOptions.ProcessingOrder;
import io.confluent.parallelconsumer.ParallelStreamProcessor;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** The relay's job on Parallel Consumer: read an event, POST its send-sms batches, produce one result. */
public final class ParallelConsumerPeer {
  public static void main(String[] argv) throws Exception {
    Map<String, String> arg = new HashMap<>();
    for (int i = 0; i + 1 < argv.length; i += 2) arg.put(argv[i].replaceFirst("^--", ""), argv[i + 1]);
    int batchSize = Integer.parseInt(arg.get("batch-size"));
    Properties consumerProps = new Properties();
    consumerProps.put("bootstrap.servers", arg.get("bootstrap"));
    consumerProps.put("group.id", arg.get("group"));
    consumerProps.put("enable.auto.commit", "false"); // Parallel Consumer commits what is done
    consumerProps.put("auto.offset.reset", "earliest");
    Properties producerProps = new Properties();
    producerProps.put("bootstrap.servers", arg.get("bootstrap"));
    producerProps.put("acks", "all");
    var options = ParallelConsumerOptions.<String, String>builder()
        .ordering(ProcessingOrder.KEY)
        .maxConcurrency(Integer.parseInt(arg.get("concurrency")))
        .consumer(new KafkaConsumer<>(consumerProps, new StringDeserializer(), new StringDeserializer()))
        .producer(new KafkaProducer<>(producerProps, new StringSerializer(), new StringSerializer()))
        .build();
    var processor = ParallelStreamProcessor.createEosStreamProcessor(options);
    processor.subscribe(List.of(arg.get("topic")));
    HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    ObjectMapper json = new ObjectMapper();
    URI sendSms = URI.create(arg.get("url").replaceAll("/$", "") + "/sms/send-sms");
    AtomicLong done = new AtomicLong();
    processor.pollAndProduce(context -> {
      var record = context.getSingleConsumerRecord();
      try {
        JsonNode event = json.readTree(record.value());
        JsonNode recipients = event.get("recipients");
        ObjectNode result = json.createObjectNode().put("type", "result");
        result.put("event_id", event.get("event_id").asText());
        ArrayNode statuses = result.putArray("http_status");
        for (int start = 0; start < recipients.size(); start += batchSize) {
          ObjectNode body = json.createObjectNode()
              .put("api_key_public", System.getenv("PUSHR_PUBLIC_KEY"))
              .put("api_key_secret", System.getenv("PUSHR_SECRET_KEY"))
              .put("message", event.get("message").asText())
              .put("sender_id", event.get("sender_id").asText());
          ArrayNode batch = body.putArray("recipients");
          for (int i = start; i < Math.min(start + batchSize, recipients.size()); i++) {
            batch.add(recipients.get(i).asText().replaceFirst("^0", "233"));
          }
          HttpRequest request = HttpRequest.newBuilder(sendSms)
              .header("Content-Type", "application/json").header("Accept", "application/json")
              .POST(HttpRequest.BodyPublishers.ofString(json.writeValueAsString(body))).build();
          HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString());
          statuses.add(response.statusCode());
          result.withArray("bodies").add(json.readTree(response.body()));
        }
        done.incrementAndGet();
        return new ProducerRecord<>(arg.get("out-topic"), record.key(), json.writeValueAsString(result));
      } catch (Exception e) {
        throw new RuntimeException(e); // Parallel Consumer retries the record
      }
    });
    long deadline = System.nanoTime() + (long) (Double.parseDouble(arg.get("seconds")) * 1e9);
    while (done.get() < Long.parseLong(arg.get("count")) && System.nanoTime() < deadline) {
      Thread.sleep(50);
    }
    processor.closeDrainFirst(Duration.ofSeconds(10));
    System.out.println("{\"events\": " + done.get() + "}");
  }
}
