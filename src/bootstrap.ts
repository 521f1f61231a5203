import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module';
import { installBodyGuard } from './common/body-guard';
import { createValidationPipe } from './common/validation';
import { AppConfig } from './config/config';
import { installIngressMetrics } from './observability/ingress-metrics';
import { Metrics } from './observability/metrics.service';
import { mountConsole } from './console/console';
import { JobQueue } from './queue/job-queue.service';
import { mountQueueDashboard } from './queue/queue-dashboard';
import { RequestLimiter } from './tenants/request-limiter.service';
import { installRequestLimits } from './tenants/request-limits';

/** Headers arrive within this (or the request timeout, when shorter). */
const HEADERS_TIMEOUT_MS = 10_000;

/** Builds the HTTP app (not listening yet). Used by main.ts, the tests and the benchmark. */
export async function createApp(config: AppConfig): Promise<NestFastifyApplication> {
  // maxParamLength: signed recording tokens are long path parameters.
  const requestTimeoutMs = config.requestTimeoutS * 1000;
  const adapter = new FastifyAdapter({
    bodyLimit: 2 * 1024 * 1024,
    // Off unless HUB_TRUST_PROXY names the proxies in front: request.ip is then the client they report.
    trustProxy: config.trustProxy,
    maxParamLength: 2048,
    // A request arrives whole within the timeout, headers sooner, or its socket is cut (408):
    // slow senders cannot hold sockets. Node checks the deadlines every second.
    requestTimeout: requestTimeoutMs,
    http: {
      headersTimeout: Math.min(requestTimeoutMs, HEADERS_TIMEOUT_MS),
      connectionsCheckingInterval: 1000,
    },
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), adapter, {
    rawBody: true,
    bufferLogs: true,
  });
  app.useLogger(app.get(Logger));
  installBodyGuard(app.getHttpAdapter().getInstance());
  installRequestLimits(app.getHttpAdapter().getInstance(), app.get(RequestLimiter));
  installIngressMetrics(app.getHttpAdapter().getInstance(), app.get(Metrics));
  app.useGlobalPipes(createValidationPipe());

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Telephony ↔ CRM hub')
      .setDescription('PBX ingress, routing, tenants, integrations and calls')
      .setVersion('1')
      .addBearerAuth()
      .addApiKey({ type: 'apiKey', in: 'header', name: 'X-Api-Key' }, 'apiKey')
      .build(),
  );
  SwaggerModule.setup('docs', app, document);

  mountConsole(app.getHttpAdapter().getInstance(), config.publicUrl, config.consoleDir);
  await mountQueueDashboard(app.getHttpAdapter().getInstance(), app.get(JobQueue), config);
  return app;
}
