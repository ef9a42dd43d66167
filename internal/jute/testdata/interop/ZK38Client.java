// ZK38Client drives the ZooKeeper 3.8 Java client through every request
// type the codec in internal/jute decodes. interop_test.go runs it against a
// real ZooKeeper server behind a recording proxy (COORD_ZK_INTEROP=1).
//
// Usage: java -cp zookeeper.jar:. ZK38Client host:port
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.Stat;

public class ZK38Client {
    static void step(String s) {
        System.out.println("step: " + s);
    }

    public static void main(String[] args) throws Exception {
        String hostPort = args[0];
        CountDownLatch connected = new CountDownLatch(1);
        ZooKeeper zk = new ZooKeeper(hostPort, 2000, event -> {
            if (event.getType() == Watcher.Event.EventType.None
                    && event.getState() == Watcher.Event.KeeperState.SyncConnected) {
                connected.countDown();
            }
        }, true);
        if (!connected.await(20, TimeUnit.SECONDS)) {
            throw new IllegalStateException("not connected");
        }
        List<ACL> open = ZooDefs.Ids.OPEN_ACL_UNSAFE;
        Stat stat = new Stat();

        step("create");
        zk.create("/app", "root".getBytes(), open, CreateMode.PERSISTENT);
        zk.create("/app/seq-", null, open, CreateMode.EPHEMERAL_SEQUENTIAL);
        step("create2");
        zk.create("/app/c2", "x".getBytes(), open, CreateMode.PERSISTENT, stat);
        step("createContainer");
        zk.create("/app/box", new byte[0], open, CreateMode.CONTAINER, stat);
        step("createTTL");
        zk.create("/app/ttl", "t".getBytes(), open, CreateMode.PERSISTENT_WITH_TTL, stat, 60000);
        try {
            zk.create("/app", null, open, CreateMode.PERSISTENT);
        } catch (KeeperException.NodeExistsException expected) {
        }

        step("exists");
        zk.exists("/app", true);
        zk.exists("/nope", true);
        step("getData/setData");
        zk.getData("/app", true, stat);
        zk.setData("/app", "v2".getBytes(), -1);
        step("getChildren");
        zk.getChildren("/app", true);
        zk.getChildren("/app", false, stat);
        step("acl");
        zk.getACL("/app", stat);
        zk.setACL("/app/c2", Arrays.asList(
                new ACL(ZooDefs.Perms.ALL, new Id("world", "anyone")),
                new ACL(ZooDefs.Perms.READ, new Id("ip", "127.0.0.1"))), -1);
        step("sync");
        CountDownLatch synced = new CountDownLatch(1);
        zk.sync("/app", (rc, path, ctx) -> synced.countDown(), null);
        synced.await(10, TimeUnit.SECONDS);

        step("multi");
        zk.multi(Arrays.asList(
                Op.create("/app/m1", "1".getBytes(), open, CreateMode.PERSISTENT),
                Op.setData("/app/m1", "2".getBytes(), -1),
                Op.check("/app/m1", 1),
                Op.delete("/app/m1", -1),
                Op.create("/app/mc", null, open, CreateMode.CONTAINER),
                Op.create("/app/mt", null, open, CreateMode.PERSISTENT_WITH_TTL, 5000)));
        try {
            zk.multi(Arrays.asList(
                    Op.create("/app/m2", null, open, CreateMode.PERSISTENT),
                    Op.delete("/app/missing", -1),
                    Op.setData("/app", null, -1)));
        } catch (KeeperException.NoNodeException expected) {
        }
        step("multiRead");
        zk.multi(Arrays.asList(Op.getChildren("/app"), Op.getData("/app"), Op.getData("/missing")));

        step("addWatch");
        zk.addWatch("/app", AddWatchMode.PERSISTENT_RECURSIVE);
        zk.addWatch("/app/c2", AddWatchMode.PERSISTENT);
        zk.create("/app/c2/child", null, open, CreateMode.EPHEMERAL);

        step("getEphemerals/getAllChildrenNumber");
        zk.getEphemerals("/app");
        zk.getEphemerals();
        zk.getAllChildrenNumber("/app");

        step("auth/whoAmI");
        zk.whoAmI();
        zk.addAuthInfo("digest", "user:pw".getBytes());
        zk.whoAmI();

        step("checkWatches/removeWatches");
        Watcher w = event -> { };
        zk.getData("/app/c2", w, null);
        zk.removeWatches("/app/c2", w, Watcher.WatcherType.Data, false);
        try {
            zk.removeWatches("/app/c2", w, Watcher.WatcherType.Data, false);
        } catch (KeeperException.NoWatcherException expected) {
        }
        zk.getChildren("/app/c2", w);
        zk.removeAllWatches("/app/c2", Watcher.WatcherType.Children, false);

        step("ping");
        Thread.sleep(1200);

        step("reconnect");
        zk.getData("/app/box", true, stat);
        try {
            zk.exists("/__drop__", false);
        } catch (KeeperException.ConnectionLossException expected) {
        }
        for (int i = 0; i < 100; i++) {
            try {
                zk.exists("/app", false);
                break;
            } catch (KeeperException.ConnectionLossException retry) {
                Thread.sleep(100);
            }
        }

        step("errors");
        try {
            zk.delete("/app", -1);
        } catch (KeeperException.NotEmptyException expected) {
        }
        try {
            zk.setData("/app", null, 99);
        } catch (KeeperException.BadVersionException expected) {
        }
        zk.delete("/app/c2/child", -1);

        step("close");
        zk.close();
        System.out.println("done");
    }
}
