// A ZooKeeper Java client (Apache ZooKeeper's own) for test_zk_java.py: it
// connects to coordsvc's ZooKeeper port, sets a data and a child watch,
// prints READY, then reports every state change and watch event it sees
// while the test kills its server and changes the watched nodes elsewhere.
import java.nio.charset.StandardCharsets;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;

public class WatchMove {
    public static void main(String[] args) throws Exception {
        BlockingQueue<String> events = new LinkedBlockingQueue<>();
        CountDownLatch connected = new CountDownLatch(1);
        ZooKeeper zk = new ZooKeeper(args[0], 8000, event -> {
            if (event.getType() == Watcher.Event.EventType.None) {
                System.out.println("STATE " + event.getState());
                if (event.getState() == Watcher.Event.KeeperState.SyncConnected) {
                    connected.countDown();
                }
            } else {
                events.add(event.getType() + " " + event.getPath());
            }
        });
        if (!connected.await(20, TimeUnit.SECONDS)) {
            throw new IllegalStateException("never connected");
        }
        long session = zk.getSessionId();
        zk.create("/jw", "v0".getBytes(StandardCharsets.UTF_8), ZooDefs.Ids.OPEN_ACL_UNSAFE,
                CreateMode.PERSISTENT);
        zk.create("/jw-eph", new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.EPHEMERAL);
        zk.getData("/jw", true, null);
        zk.getChildren("/", true);
        System.out.println("READY " + Long.toHexString(session));
        for (int i = 0; i < 2; i++) {
            String event = events.poll(30, TimeUnit.SECONDS);
            System.out.println("EVENT " + event);
        }
        String data = new String(zk.getData("/jw", false, null), StandardCharsets.UTF_8);
        System.out.println("DATA " + data + " " + Long.toHexString(zk.getSessionId()));
        zk.close();
        System.out.println("DONE");
    }
}
